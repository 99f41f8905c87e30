# Plots each activation and its derivative (as computed by tapegrad's backward) from
# activations.dat. Called by make_images.sh with datafile and outdir set.
set grid lc rgb "#dddddd"
set xlabel "x"
set xrange [-5:5]
set xzeroaxis lt 1 lc rgb "#999999"
set yzeroaxis lt 1 lc rgb "#999999"
names = "step sigmoid tanh relu leaky_relu softmax"
titles = "step|sigmoid|tanh|ReLU|leaky ReLU (slope 0.1)|softmax([x, 1, 0, -1]) as x varies"
do for [k = 1:6] {
  name = word(names, k)
  if (name eq "softmax") { set terminal pngcairo size 720,320 font "DejaVu Sans,10" } else { set terminal pngcairo size 520,320 font "DejaVu Sans,10" }
  set output sprintf("%s/activation_%s.png", outdir, name)
  set title system(sprintf("echo '%s' | cut -d'|' -f%d", titles, k))
  if (name eq "relu" || name eq "leaky_relu") { set yrange [-1:5] } else { if (name eq "tanh") { set yrange [-1.1:1.1] } else { set yrange [-0.1:1.1] } }
  # The step jumps at x = 0 from the bottom left to the top right: its key goes to the middle left,
  # clear of both lines; every other curve leaves the top left free.
  # Softmax's five curves fill the plot: its key goes outside, on a wider image.
  if (name eq "step") { set key left center box opaque } else { set key top left box opaque }
  if (name eq "softmax") { set key outside right top box opaque }
  if (name eq "softmax") {
    plot datafile using 1:(column(2*k)) with lines lw 2 lc rgb "#1f77b4" title "p_0 (logit x)", \
         datafile using 1:14 with lines lw 1 lc rgb "#2ca02c" title "p_1 (logit 1)", \
         datafile using 1:15 with lines lw 1 lc rgb "#9467bd" title "p_2 (logit 0)", \
         datafile using 1:16 with lines lw 1 lc rgb "#8c564b" title "p_3 (logit -1)", \
         datafile using 1:(column(2*k+1)) with lines lw 2 dt 2 lc rgb "#d62728" title "dp_0/dx from backward()"
  } else {
    plot datafile using 1:(column(2*k)) with lines lw 2 lc rgb "#1f77b4" title "f(x)", \
         datafile using 1:(column(2*k+1)) with lines lw 2 dt 2 lc rgb "#d62728" title "f'(x) from backward()"
  }
}
