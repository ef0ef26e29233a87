# SPDX-License-Identifier: GPL-2.0-only
# Warnings on our own code only (never on system headers, which are -isystem). They become errors
# only with -DKECHO_WERROR=ON (scripts/test.sh and CI turn it on): a user's compiler, newer or
# older than the ones tested (GCC 12, clang 14), must not fail their build over a new warning.
option(KECHO_WERROR "treat warnings in kecho-bpf's own code as errors" OFF)

function(kecho_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  if(KECHO_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
