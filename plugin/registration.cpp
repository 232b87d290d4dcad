#include "plugin/registration.h"

#include <qgsapplication.h>
#include <qgsprocessingregistry.h>

#include "algorithms/gdal_raster.h"
#include "plugin/provider.h"

#ifndef DEQUNMIX_VERSION
#define DEQUNMIX_VERSION "unknown"
#endif

using dequnmix::processing::DequnmixProvider;

extern "C" {

int dequnmix_register_provider() {
  QgsProcessingRegistry* registry = QgsApplication::processingRegistry();
  if (!registry) return -1;
  dequnmix::processing::dropMissingGeotransformMessage();
  if (registry->providerById(DequnmixProvider::providerId())) return 0;
  return registry->addProvider(new DequnmixProvider()) ? 1 : -1;
}

int dequnmix_unregister_provider() {
  QgsProcessingRegistry* registry = QgsApplication::processingRegistry();
  if (!registry) return 0;
  return registry->removeProvider(DequnmixProvider::providerId()) ? 1 : 0;
}

const char* dequnmix_version() { return DEQUNMIX_VERSION; }
}
