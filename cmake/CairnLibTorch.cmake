# cairn_find_libtorch([REQUIRED] [QUIET]): find_package(Torch), then define cairn::libtorch_cpu,
# the part of LibTorch the adapter links: libtorch_cpu and libc10 with LibTorch's headers (as
# system headers: imported targets' include directories are) and compile flags. Used by cairn's
# own build and by the installed cairnConfig.cmake, so both find LibTorch the same way.
#
# The adapter uses LibTorch on the CPU only. Debian's libtorch 1.13 is a CPU build; PyPI's torch
# wheels are CUDA builds, whose Caffe2Config.cmake, merely to be found, includes
# public/cuda.cmake: it needs the CUDA toolkit (nvcc, enable_language(CUDA)) and runs a GPU probe,
# and a missing toolkit is a fatal error. That file returns at once when torch::cudart exists
# (its include guard), so an empty stand-in defined here skips it. The CUDA targets then stay
# unusable, and nothing here links them (libtorch.so is a stub that only pulls in libtorch_cpu
# and libtorch_cuda). libtorch_cpu of a CUDA build still needs libcudart at run time: its own
# RPATH finds it in the nvidia-* wheels beside torch, no toolkit and no GPU required.
# Not TORCH_LIBRARIES either: beyond libtorch_cuda, it holds libc10 as found by find_library,
# which looks in the system's directories first and so can pick a Debian libc10 beside a wheel.
# A project that wants LibTorch's CUDA targets finds Torch itself, before this runs.
macro(cairn_find_libtorch)
  if(NOT TARGET torch::cudart)
    add_library(torch::cudart INTERFACE IMPORTED)
  endif()
  find_package(Torch ${ARGN})
  if(Torch_FOUND AND NOT TARGET cairn::libtorch_cpu)
    add_library(cairn::libtorch_cpu INTERFACE IMPORTED)
    separate_arguments(_cairn_torch_cxx_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
    # torch_cpu_library: libtorch_cpu (linked even when --as-needed would drop it: it registers
    # the CPU kernels) and its interface (libc10, compile definitions).
    set_target_properties(cairn::libtorch_cpu PROPERTIES
      INTERFACE_LINK_LIBRARIES torch_cpu_library
      INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}"
      INTERFACE_COMPILE_OPTIONS "${_cairn_torch_cxx_flags}")
  endif()
endmacro()
