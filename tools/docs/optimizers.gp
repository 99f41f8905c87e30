# Plots the loss curves of optimizers.dat (one column per optimizer). Called by make_images.sh.
set terminal pngcairo size 780,420 font "DejaVu Sans,10"
set output outdir."/optimizers.png"
set title "Same network, same start: cross-entropy per step (two half-moons, full batch)"
set xlabel "step"
set ylabel "training loss"
set logscale y
set grid lc rgb "#dddddd"
set key outside right top
plot for [k = 2:8] datafile using 1:k with lines lw 2 title columnhead(k)
