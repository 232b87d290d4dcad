// Checks of data against data: a scene's scale against the scale a model or endmembers
// were made for, and an endmember set's fitness for unmixing. Plain C++ (no LibTorch
// type), so the QGIS adapters can include it; messages name the problem and the fix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/io/endmember_table.h"

namespace dequnmix {

// A scene's RMS against a reference RMS (the training scene's, or the endmembers').
struct ScaleCheck {
  enum class Verdict { Agree, Warn, Refuse };
  Verdict verdict = Verdict::Agree;
  double ratio = 1;     // sceneRms / referenceRms (1 when either is 0)
  std::string message;  // empty when Agree
};

// Warn when the scales differ by a factor of 4 or more, refuse from 20: brightness
// between scenes differs by a few times, units (reflectance x 10000, radiance) by 10x to
// 10000x. Labels name the two sides in the message ("INPUT", "the training scene").
// Refuses when either RMS is not finite; agrees when either is 0 (an empty scene is the
// caller's to report).
ScaleCheck compareScale(double sceneRms, double referenceRms, const std::string& sceneLabel,
                        const std::string& referenceLabel);

// Root mean square of the finite values among `count` (double precision, so that values
// near the float range do not overflow); 0 when there is none.
double rmsOf(const float* values, int64_t count);

// A scene's values as they are added: their RMS and the share of them below zero.
struct ValueSummary {
  double sumOfSquares = 0;  // in double, so that values near the float range do not overflow
  int64_t negatives = 0;
  int64_t count = 0;
  void add(float v) {
    sumOfSquares += double(v) * double(v);
    negatives += v < 0 ? 1 : 0;
    ++count;
  }
  double rms() const;            // 0 without values
  double negativeShare() const;  // 0 without values
};
// Of the finite values among `count`.
ValueSummary summarizeValues(const float* values, int64_t count);
// The scene summary's warning, or empty: over a fifth of its values negative. Radiance and
// reflectance are not (a few percent are, in absorption bands and on dark water after
// atmospheric correction); an offset, mean-centred or MNF/PCA-transformed scene is, and
// breaks the mixing model's geometry.
std::string negativeValuesWarning(const ValueSummary& scene, const std::string& sceneLabel);

// Problems of an endmember set (table.values: bands x endmembers). Errors make unmixing
// impossible (a column all zeros or not finite; two columns identical or parallel);
// warnings make it unreliable (negative values, nearly collinear pairs, a numerically
// rank-deficient set). Each message names the endmembers and the fix.
struct EndmemberSetCheck {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};
EndmemberSetCheck checkEndmemberSet(const EndmemberTable& table);

}  // namespace dequnmix
