# Installation layout and the Debian package (make deb; docs/deploy.md). Included by the top-level
# CMakeLists.txt after the parley target exists.
#
# Why CPack's DEB generator and not a debian/ directory: the package is made from the same tree
# and build as everything else (make deb packs the existing build without rebuilding; a debian/
# directory would rebuild from a clean tree through dpkg-buildpackage), and the layout lives in
# one place, these install() rules. What debhelper would generate (the systemd snippets of the
# maintainer scripts, the -dbgsym split, shlibs) is written out here and in packaging/deb/.

# The units run /usr/bin/parley: a plain `cmake --install` puts it there too.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Installation prefix" FORCE)
endif()
include(GNUInstallDirs)

set(PARLEY_DEB_MAINTAINER "Parley maintainers <maintainers@parley.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

# /etc/parley/{server,manager}.toml: every key with its default and documentation, as the binary
# itself prints them, so the conffiles never drift from the schema.
set(PARLEY_ETC_DIR ${CMAKE_BINARY_DIR}/packaging/etc)
foreach(mode server manager)
  add_custom_command(
    OUTPUT ${PARLEY_ETC_DIR}/${mode}.toml
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PARLEY_ETC_DIR}
    COMMAND ${CMAKE_COMMAND} -DPARLEY=$<TARGET_FILE:parley> -DMODE=${mode}
            -DOUTPUT=${PARLEY_ETC_DIR}/${mode}.toml -P ${CMAKE_SOURCE_DIR}/cmake/default_config.cmake
    DEPENDS parley ${CMAKE_SOURCE_DIR}/cmake/default_config.cmake
    COMMENT "Generating /etc/parley/${mode}.toml from parley ${mode} --print-default-config")
endforeach()

# changelog.gz (Debian policy 12.7: the package is native, its version has no Debian revision) and
# the man page, compressed without a timestamp. The changelog is dated at configure time, or by
# $SOURCE_DATE_EPOCH (string(TIMESTAMP) honours it) for a reproducible package.
set(PARLEY_CHANGELOG ${CMAKE_BINARY_DIR}/packaging/changelog)
string(TIMESTAMP PARLEY_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_SOURCE_DIR}/packaging/deb/changelog.in ${PARLEY_CHANGELOG} @ONLY)
set(PARLEY_MANPAGE ${CMAKE_BINARY_DIR}/packaging/parley.1)
add_custom_command(
  OUTPUT ${PARLEY_CHANGELOG}.gz ${PARLEY_MANPAGE}.gz
  COMMAND gzip -9nc ${PARLEY_CHANGELOG} > ${PARLEY_CHANGELOG}.gz
  COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/packaging/parley.1 > ${PARLEY_MANPAGE}.gz
  DEPENDS ${PARLEY_CHANGELOG} ${CMAKE_SOURCE_DIR}/packaging/parley.1)
add_custom_target(parley_package_files ALL
  DEPENDS ${PARLEY_ETC_DIR}/server.toml ${PARLEY_ETC_DIR}/manager.toml ${PARLEY_CHANGELOG}.gz
          ${PARLEY_MANPAGE}.gz)

install(TARGETS parley RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES systemd/parley-server.service systemd/parley-manager.service
        DESTINATION /lib/systemd/system)
install(FILES systemd/parley.sysusers DESTINATION lib/sysusers.d RENAME parley.conf)
install(FILES systemd/parley.tmpfiles DESTINATION lib/tmpfiles.d RENAME parley.conf)
# Packaged polkit rules go under /usr/share (not a conffile); an administrator overrides one with
# a file of the same name in /etc/polkit-1/rules.d/.
install(FILES systemd/parley-manager.rules DESTINATION ${CMAKE_INSTALL_DATADIR}/polkit-1/rules.d
        RENAME 50-parley-manager.rules)
install(FILES ${PARLEY_ETC_DIR}/server.toml ${PARLEY_ETC_DIR}/manager.toml DESTINATION /etc/parley)
# The README's links (docs/...) resolve inside /usr/share/doc/parley as they do in the tree.
install(FILES README.md packaging/deb/copyright ${PARLEY_CHANGELOG}.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PARLEY_MANPAGE}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME parley)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "${PARLEY_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-hosted real-time chat backend (server and host manager)")
set(CPACK_PACKAGE_DESCRIPTION
    "Parley is a self-hosted real-time backend in one binary: accounts, profiles,\n\
images and chat over HTTP and WebSocket, stored in SQLite, with a browser\n\
client. The package installs parley-server.service (enabled and started,\n\
listening on 127.0.0.1:8080 until configured) and parley-manager.service\n\
(installed disabled), a host manager that restarts the server, reboots the\n\
host on a schedule and ships backups to a peer.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://parley.invalid/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers and systemd-tmpfiles in postinst; deb-systemd-helper comes from the essential
# init-system-helpers. polkitd applies the manager's rule.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "polkitd")
# Strips /usr/bin/parley and puts its DWARF into parley-dbgsym (a .ddeb), found by build id.
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
set(CPACK_POST_BUILD_SCRIPTS ${CMAKE_SOURCE_DIR}/cmake/fix_dbgsym.cmake)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
include(CPack)
