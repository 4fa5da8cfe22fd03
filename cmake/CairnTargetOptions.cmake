# Compile options for cairn's own targets only: users who build against the installed library
# never inherit these (they are PRIVATE).
function(cairn_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(CAIRN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CAIRN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${CAIRN_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${CAIRN_SANITIZE})
  endif()
endfunction()
