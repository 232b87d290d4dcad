// The list of dequnmix algorithms the provider loads. A new algorithm (one
// QgsProcessingAlgorithm per file in algorithms/) is added here and nowhere else.
#pragma once

#include <QList>

class QgsProcessingAlgorithm;

namespace dequnmix::processing {

// New instances, owned by the caller (QgsProcessingProvider::addAlgorithm takes them).
QList<QgsProcessingAlgorithm*> createAlgorithms();

}  // namespace dequnmix::processing
