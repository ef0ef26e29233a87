# Warnings as errors on our own code only (never on system headers, which are -isystem).
function(kecho_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()
