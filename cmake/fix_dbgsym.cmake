# CPack post-build script (CPACK_POST_BUILD_SCRIPTS, see packaging.cmake): repairs the -dbgsym
# package CPack 3.25 writes. Its md5sums names the file by its absolute path in the build tree
# (so `dpkg --verify parley-dbgsym` and lintian report it missing), and it has no
# /usr/share/doc/parley-dbgsym, which a Debian debug package has as a symlink to the main
# package's documentation (it depends on that exact version). Rebuilds the .ddeb from its
# unpacked tree with the correct md5sums and the symlink, with the same compression.
foreach(package IN LISTS CPACK_PACKAGE_FILES)
  if(NOT package MATCHES "\\.ddeb$")
    continue()
  endif()
  set(root ${CPACK_TOPLEVEL_DIRECTORY}/dbgsym-fix)
  file(REMOVE_RECURSE ${root})
  execute_process(COMMAND dpkg-deb -R ${package} ${root} COMMAND_ERROR_IS_FATAL ANY)
  file(MAKE_DIRECTORY ${root}/usr/share/doc)
  file(CREATE_LINK ${CPACK_PACKAGE_NAME} ${root}/usr/share/doc/${CPACK_PACKAGE_NAME}-dbgsym SYMBOLIC)
  execute_process(
    COMMAND sh -c "find . -type f ! -path './DEBIAN/*' | sed 's|^\\./||' | LC_ALL=C sort | xargs -r md5sum > DEBIAN/md5sums"
    WORKING_DIRECTORY ${root} COMMAND_ERROR_IS_FATAL ANY)
  set(compression ${CPACK_DEBIAN_COMPRESSION_TYPE})
  if(NOT compression)
    set(compression gzip)  # CPack's default
  elseif(compression STREQUAL "lzma")
    set(compression xz)  # dpkg-deb builds no lzma any more
  endif()
  execute_process(COMMAND dpkg-deb --root-owner-group -Z${compression} -b ${root} ${package}.tmp
                  OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
  file(RENAME ${package}.tmp ${package})
  file(REMOVE_RECURSE ${root})
endforeach()
