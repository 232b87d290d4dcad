# QGIS desktop under Xvfb with a throwaway profile: the plugin loads, its provider,
# algorithms and model are in the toolbox, the train dialog opens, and an abundance output
# loaded as a run loads it is drawn in the map canvas with its style (screenshots
# train_dialog.png and abundances_canvas.png kept in <build>/tests/desktop). Exit status 77 (no qgis or xvfb-run) counts as skipped.
add_test(NAME desktop.plugin_loads
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_desktop_test.sh ${CMAKE_BINARY_DIR}
          ${CMAKE_BINARY_DIR}/tests/desktop)
set_tests_properties(desktop.plugin_loads PROPERTIES
  LABELS "desktop;deq" TIMEOUT 300 SKIP_RETURN_CODE 77)
