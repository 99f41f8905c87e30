// Draws docs/images/network_222.png, the 2-2-2 network of backprop.md, as Graphviz dot on stdout:
// each weight with its name in the hand calculation (w1..w8) and its place in tapegrad's
// {in, out} matrices (W1[i][j]: from input i to hidden unit j), with the values the page uses.
// tools/docs/make_images.sh renders it (neato, fixed positions); docs.image_programs checks that it
// still writes it.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  const tg::Tensor W1 = tg::tensor({{0.15, 0.25}, {0.20, 0.30}}, tg::Dtype::f64);
  const tg::Tensor W2 = tg::tensor({{0.40, 0.50}, {0.45, 0.55}}, tg::Dtype::f64);

  std::printf("digraph network {\n  layout=neato; splines=false; outputorder=edgesfirst;\n");
  std::printf("  node [shape=circle, fixedsize=true, width=0.8, fontname=\"sans\", style=filled, fillcolor=white];\n");
  std::printf("  edge [fontname=\"sans\", fontsize=11, arrowsize=0.7];\n");
  // Layers left to right, unit 1 above unit 2; the biases below.
  std::printf("  i1 [label=\"i1\\n0.05\", pos=\"0,3!\"]; i2 [label=\"i2\\n0.10\", pos=\"0,0!\"];\n");
  std::printf("  h1 [pos=\"4.5,3!\"]; h2 [pos=\"4.5,0!\"];\n");
  std::printf("  o1 [label=\"o1\\nt = 0.01\", width=1.05, pos=\"9,3!\"]; o2 [label=\"o2\\nt = 0.99\", width=1.05, pos=\"9,0!\"];\n");
  std::printf("  b1 [label=\"b1 = 0.35\", shape=box, width=1.1, height=0.35, pos=\"2.6,-1.3!\"];\n");
  std::printf("  b2 [label=\"b2 = 0.60\", shape=box, width=1.1, height=0.35, pos=\"7.1,-1.3!\"];\n");
  // Hand-calculation numbering, unit by unit: net_h1 = w1 i1 + w2 i2 + b1, net_h2 = w3 i1 + w4 i2
  // + b1, so w(2j + i + 1) is W[i][j]. Straight edges carry their label above the middle; the two
  // crossing ones carry it near their tail, where they are still apart.
  auto edges = [](const char* from1, const char* from2, const char* to1, const char* to2, const tg::Tensor& W,
                  const char* name, int first) {
    const char* from[] = {from1, from2};
    const char* to[] = {to1, to2};
    for (int j = 0; j < 2; ++j)
      for (int i = 0; i < 2; ++i) {
        const int w = first + 2 * j + i;
        if (i == j)
          std::printf("  %s -> %s [label=\"w%d = %s[%d][%d] = %.2f\\n\\n\"];\n", from[i], to[j], w, name, i, j,
                      W.at({i, j}));
        else
          std::printf("  %s -> %s [taillabel=\"w%d = %s[%d][%d] = %.2f\", labeldistance=6.5, labelangle=%d];\n",
                      from[i], to[j], w, name, i, j, W.at({i, j}), i == 0 ? -9 : 9);
      }
  };
  edges("i1", "i2", "h1", "h2", W1, "W1", 1);
  edges("h1", "h2", "o1", "o2", W2, "W2", 5);
  std::printf("  edge [style=dashed, color=gray40];\n  b1 -> h1; b1 -> h2; b2 -> o1; b2 -> o2;\n}\n");
}
