# Writes OUTPUT = a header + `PARLEY MODE --print-default-config` (cmake -P; see packaging.cmake).
# Written to a temporary file and renamed, so an interrupted build leaves no half file behind.
execute_process(COMMAND ${PARLEY} ${MODE} --print-default-config
                OUTPUT_VARIABLE body RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PARLEY} ${MODE} --print-default-config failed: ${rc}")
endif()
if(MODE STREQUAL "server")
  set(data_dir /var/lib/parley)
else()
  set(data_dir /var/lib/parley-manager)
endif()
set(header "# /etc/parley/${MODE}.toml, read by parley-${MODE}.service (installed by the parley package).
# Every key is listed at its default and documented, commented out: the binary has the same
# defaults built in. To change settings, add their tables at the end of this file (as the docs
# show) or uncomment a table header with the keys you change; a table may appear only once.
# The unit passes --data-dir ${data_dir}, which takes precedence over [data] dir.
# After an edit: systemctl restart parley-${MODE}
")
# Settings become comments ("#key = value", "#[table]"); documentation lines stay as they are.
# (CMake's "^" matches at every search position, so each line is found by the newline before it.)
string(REGEX REPLACE "\n([^#\n])" "\n#\\1" commented "\n${body}")
string(SUBSTRING "${commented}" 1 -1 commented)
file(WRITE ${OUTPUT}.tmp "${header}\n${commented}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
