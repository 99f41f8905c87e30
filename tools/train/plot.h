#pragma once
/// \file plot.h
/// The loss and accuracy curves as a PNG, drawn by gnuplot from metrics.csv.
#include <string>

namespace tapegrad_train {

/// What became of a plot request.
struct PlotResult {
  bool rendered = false;  ///< the PNG was written
  std::string reason;     ///< why not, when it was not ("gnuplot not found ...", gnuplot's error)
};

/// The gnuplot script that draws `csv_path` (metrics.csv) into the PNG named by the gnuplot
/// variable `outfile` (default `png_path`): training loss on the left, train and test accuracy on
/// the right, titled `title`.
std::string gnuplot_script(const std::string& csv_path, const std::string& png_path, const std::string& title);

/// Writes the script to `script_path` (atomically; users can rerun it with gnuplot) and runs
/// gnuplot on it as a subprocess, rendering into a temporary file that is then renamed over
/// `png_path`. Never throws: a missing gnuplot or a failed run is reported in the result.
PlotResult render_plot(const std::string& csv_path, const std::string& png_path, const std::string& script_path,
                       const std::string& title);

}  // namespace tapegrad_train
