# `cmake --install` layout (docs/design.md section 8): bin/, include/cairn/, lib/libcairn*,
# lib/cmake/cairn/cairnConfig.cmake exporting target cairn::cairn.
include(CMakePackageConfigHelpers)

install(TARGETS cairn EXPORT cairnTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The adapter headers install with their libraries (below): a header whose library is not
# installed would only fail at link time.
install(DIRECTORY include/cairn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        PATTERN torch.hpp EXCLUDE PATTERN mpi.hpp EXCLUDE)

set(CAIRN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cairn)
install(EXPORT cairnTargets NAMESPACE cairn:: DESTINATION ${CAIRN_CMAKE_DIR})
configure_package_config_file(cmake/cairnConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/cairnConfig.cmake
                              INSTALL_DESTINATION ${CAIRN_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cairnConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cairnConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/cairnConfigVersion.cmake
        DESTINATION ${CAIRN_CMAKE_DIR})

# The LibTorch adapter has its own export set, so that find_package(cairn) needs LibTorch only
# when the adapter was built and installed.
if(TARGET cairn_torch)
  install(TARGETS cairn_torch EXPORT cairnTorchTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT cairnTorchTargets NAMESPACE cairn:: DESTINATION ${CAIRN_CMAKE_DIR})
  install(FILES cmake/CairnLibTorch.cmake DESTINATION ${CAIRN_CMAKE_DIR})
  install(FILES include/cairn/torch.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cairn)
endif()
if(TARGET cairn_mpi)
  install(TARGETS cairn_mpi EXPORT cairnMpiTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT cairnMpiTargets NAMESPACE cairn:: DESTINATION ${CAIRN_CMAKE_DIR})
  install(FILES include/cairn/mpi.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cairn)
endif()
