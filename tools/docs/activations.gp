# Plots each activation and its derivative (as computed by tapegrad's backward) from
# activations.dat. Called by make_images.sh with datafile and outdir set.
set terminal pngcairo size 520,320 font "DejaVu Sans,10"
set grid lc rgb "#dddddd"
set key top left box opaque
set xlabel "x"
set xrange [-5:5]
set xzeroaxis lt 1 lc rgb "#999999"
set yzeroaxis lt 1 lc rgb "#999999"
names = "step sigmoid tanh relu leaky_relu softmax"
titles = "step|sigmoid|tanh|ReLU|leaky ReLU (slope 0.1)|softmax([x, 0]) at class 0"
do for [k = 1:6] {
  name = word(names, k)
  set output sprintf("%s/activation_%s.png", outdir, name)
  set title system(sprintf("echo '%s' | cut -d'|' -f%d", titles, k))
  if (name eq "relu" || name eq "leaky_relu") { set yrange [-1:5] } else { if (name eq "tanh") { set yrange [-1.1:1.1] } else { set yrange [-0.1:1.1] } }
  plot datafile using 1:(column(2*k)) with lines lw 2 lc rgb "#1f77b4" title "f(x)", \
       datafile using 1:(column(2*k+1)) with lines lw 2 dt 2 lc rgb "#d62728" title "f'(x) from backward()"
}
