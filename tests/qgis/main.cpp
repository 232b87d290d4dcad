// GoogleTest main of the QGIS-side test programs (qgis_tests, qgis_train_unmix_tests): a headless
// QgsApplication with the dequnmix provider registered through the same C entry point the Python
// loader calls.
#include <gtest/gtest.h>

#include <QByteArray>
#include <QDir>
#include <QTemporaryDir>

#include <qgsapplication.h>
#include <qgsproject.h>

#include "plugin/registration.h"

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  ::testing::InitGoogleTest(&argc, argv);
  // A throwaway profile, so the tests never touch a user's QGIS settings.
  QTemporaryDir profile;
  int status = 1;
  {
    QgsApplication app(argc, argv, false, profile.path());
    QgsApplication::initQgis();
    if (dequnmix_register_provider() < 0) {
      fprintf(stderr, "cannot register the dequnmix provider\n");
      QgsApplication::exitQgis();
      return 1;
    }
    status = RUN_ALL_TESTS();
    QgsProject::instance()->clear();  // layers of the project before GDAL goes
    QgsApplication::exitQgis();
  }
  return status;
}
