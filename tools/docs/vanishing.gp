# Plots vanishing_mlp.dat and vanishing_rnn.dat (docs/snippets/rnn_vanishing.cpp). Called by make_images.sh.
set terminal pngcairo size 780,420 font "DejaVu Sans,10"
set logscale y
set format y "10^{%L}"
set grid lc rgb "#dddddd"
set key outside right top

set output outdir."/vanishing_mlp.png"
set title "10-layer MLP at initialisation: gradient norm of each layer's weight"
set xlabel "layer (1 = nearest the input)"
set ylabel "|dL/dW|"
plot for [k = 2:3] datafile_mlp using 1:k with linespoints lw 2 title columnhead(k)

set output outdir."/vanishing_rnn.png"
set title "Adding problem, 100 steps, at initialisation: gradient norm of each step's input"
set xlabel "steps back from the last (where the loss is)"
set ylabel "|dL/dx_t|"
plot for [k = 2:4] datafile_rnn using 1:k with lines lw 2 title columnhead(k)
