# dequnmix:train / dequnmix:unmix tests with a headless QgsApplication, included from
# tests/CMakeLists.txt after tests/qgis. They share tests/qgis's main() and helpers
# (qgis_test_support: the plugin library, QGIS, GDAL, GoogleTest), and link the core for
# loading model files in assertions. (gtest_discover_tests splits list-valued PROPERTIES,
# so one label and one environment entry only.)
include(GoogleTest)
add_executable(qgis_train_unmix_tests ${CMAKE_CURRENT_LIST_DIR}/test_train_unmix.cpp)
target_link_libraries(qgis_train_unmix_tests PRIVATE qgis_test_support dequnmix_core)
target_compile_options(qgis_train_unmix_tests PRIVATE ${DEQUNMIX_WARNINGS})
add_dependencies(qgis_train_unmix_tests dequnmix_plugin)
gtest_discover_tests(qgis_train_unmix_tests
  DISCOVERY_TIMEOUT 120
  TEST_PREFIX "train_unmix."
  PROPERTIES ENVIRONMENT "QT_QPA_PLATFORM=offscreen" LABELS qgis TIMEOUT 300)
