# dequnmix:train / dequnmix:unmix tests with a headless QgsApplication (own main), included
# from tests/CMakeLists.txt. They link the plugin library like tests/qgis, and the core for
# loading model files in assertions. (gtest_discover_tests splits list-valued PROPERTIES,
# so one label and one environment entry only.)
include(GoogleTest)
add_executable(qgis_train_unmix_tests ${CMAKE_CURRENT_LIST_DIR}/test_train_unmix.cpp)
target_include_directories(qgis_train_unmix_tests PRIVATE ${CMAKE_SOURCE_DIR})
target_include_directories(qgis_train_unmix_tests SYSTEM PRIVATE ${QGIS_INCLUDE_DIR})
target_link_libraries(qgis_train_unmix_tests PRIVATE dequnmix_qgis dequnmix_core
  ${QGIS_CORE_LIBRARY} Qt5::Core Qt5::Gui Qt5::Widgets Qt5::Xml GDAL::GDAL GTest::gtest)
target_compile_options(qgis_train_unmix_tests PRIVATE ${DEQUNMIX_WARNINGS})
add_dependencies(qgis_train_unmix_tests dequnmix_plugin)
gtest_discover_tests(qgis_train_unmix_tests
  DISCOVERY_TIMEOUT 120
  TEST_PREFIX "train_unmix."
  PROPERTIES ENVIRONMENT "QT_QPA_PLATFORM=offscreen" LABELS qgis TIMEOUT 300)
