// The number of materials in a scene, estimated from its second-order statistics
// (subspace.h), so that users need not know it:
//   - HySime (Bioucas-Dias and Nascimento, "Hyperspectral subspace identification", IEEE
//     TGRS 46(8), 2008): the noise of each band is what a linear regression on the other
//     bands leaves; the signal subspace keeps the eigenvectors of the signal correlation
//     whose projected power exceeds twice their projected noise power (least mean squared
//     error of the projection);
//   - HFC virtual dimensionality (Chang and Du, "Estimation of number of spectrally distinct
//     signal sources in hyperspectral imagery", IEEE TGRS 42(3), 2004): a component is
//     signal where the correlation eigenvalue exceeds the covariance eigenvalue by more than
//     a Neyman-Pearson threshold at the false-alarm rate;
//   - NWHFC: HFC on the data whitened by HySime's noise covariance (for coloured noise).
// All three need only bandMoments(); HySime's regression noise follows from the inverse
// correlation matrix in closed form.
#pragma once

#include <string>
#include <vector>

#include "core/classical/subspace.h"

namespace dequnmix {

enum class EndmemberCountMethod { HySime, Hfc, NwHfc };

// "hysime", "hfc", "nwhfc" (the QGIS METHOD values), in enum order.
const std::vector<std::string>& endmemberCountMethodNames();
// Throws InvalidArgument naming the accepted names.
EndmemberCountMethod parseEndmemberCountMethod(const std::string& name);

struct EndmemberCountOptions {
  double falseAlarm = 1e-3;  // HFC / NWHFC false-alarm probability (Chang and Du use 1e-3)
  void validate() const;     // 0 < falseAlarm < 0.5, else InvalidArgument
};

struct EndmemberCountEstimate {
  int hysime = 0, hfc = 0, nwhfc = 0;
  // Per component, decreasing: HySime's signal eigenvalues and its criterion
  // -p_i + 2 sigma_i^2 (negative = kept), HFC's correlation and covariance eigenvalues and
  // threshold, NWHFC's whitened difference and threshold.
  std::vector<double> signalEigenvalues, hysimeCriterion;
  std::vector<double> correlationEigenvalues, covarianceEigenvalues, hfcThreshold;
  std::vector<double> whitenedDifference, nwhfcThreshold;

  int count(EndmemberCountMethod method) const;
};

// Throws InvalidArgument for moments of fewer than 2 bands or pixels, or non-finite ones.
EndmemberCountEstimate estimateEndmemberCount(const BandMoments& moments,
                                              const EndmemberCountOptions& options = {});

// The estimate for the tools that take ENDMEMBERS = 0 as "estimate it" (VCA, training) and
// estimate_endmembers' default: NWHFC. Its count is the closest to P on the 14 suite scenes
// (mean absolute error 1.64 against HFC's 1.93 and HySime's 24) and on the 46 held-out ones
// (1.89, 2.26, 32; Samson and its windows 2.2, 3.9, 68): HySime counts the signal subspace,
// which library spectra, varying brightness, variability and real data widen (66 to 73 on
// Samson's 3-material windows); it is closer only on plain linear mixtures of smooth random
// spectra (0.19 against NWHFC's 1.6; bench/README.md, "The number of endmembers").
constexpr EndmemberCountMethod kUnmixingCountMethod = EndmemberCountMethod::NwHfc;

// kUnmixingCountMethod's count. Throws InvalidArgument naming the estimate when it is below 2
// or not below the band count (unmixing needs 2 <= P < bands), with the fix: give the number
// of endmembers.
int endmemberCountForUnmixing(const BandMoments& moments);

// The log line of an ENDMEMBERS = 0 estimate: "ENDMEMBERS = 0: NWHFC estimates N endmembers".
std::string estimatedCountMessage(int count);

}  // namespace dequnmix
