// C entry points of the dequnmix plugin library, called by the Python loader
// (plugin/__init__.py, through ctypes) and by the tests.
#pragma once

#define DEQUNMIX_EXPORT __attribute__((visibility("default")))

extern "C" {

// Adds the "dequnmix" provider to QgsApplication::processingRegistry(). Idempotent.
// Returns 1 when the provider was added, 0 when it was already registered, -1 when no
// processing registry exists (no QgsApplication) or adding it failed.
DEQUNMIX_EXPORT int dequnmix_register_provider();

// Removes the provider again (plugin unload). Returns 1 when removed, 0 when absent.
DEQUNMIX_EXPORT int dequnmix_unregister_provider();

// Version of the library, e.g. "0.1.0".
DEQUNMIX_EXPORT const char* dequnmix_version();
}
