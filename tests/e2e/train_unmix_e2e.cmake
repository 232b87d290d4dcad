# qgis_process.bin end to end for dequnmix:train / dequnmix:unmix and the shipped .model3
# (issue 4), included from tests/CMakeLists.txt. Uses Debian's Python (/usr/bin/python3).
add_test(NAME e2e.train_unmix
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_train_unmix_e2e.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.train_unmix PROPERTIES LABELS "e2e;deq" TIMEOUT 600)
