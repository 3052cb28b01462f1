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
# Every key, set to its default and documented; edit what you change. The unit passes
# --data-dir ${data_dir}, which takes precedence over [data] dir below.
# After an edit: systemctl restart parley-${MODE}
")
file(WRITE ${OUTPUT}.tmp "${header}\n${body}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
