#!/usr/bin/env bash
# examples/use_trained_model on a checkpoint tapegrad-train wrote, as a user runs it:
#   1. on the committed checkpoint.safetensors (64-16-10, one epoch on make_data.py's stand-in
#      data, trained with `tapegrad-train --data data --hidden 16 --epochs 1 --lr 0.5 --seed 1
#      --threads 1 --no-plot`): its output must be examples/use_trained_model.out exactly (the page
#      docs/using-a-trained-model.md shows it), and the PNG it writes must be a PNG;
#   2. on a checkpoint that tapegrad-train writes now, with two hidden layers: it must load it and
#      classify (the checkpoint format and the example cannot drift apart);
#   3. on a checkpoint of `tapegrad-train --model cnn` (28x28 stand-in images): it must read the
#      model kind from the metadata, rebuild the CNN (nn::Unflatten first), load it and classify;
#      what it prints up to the network's "Total:" line must be examples/use_trained_model_cnn.out
#      (shown on the same page);
#   4. on checkpoints of --model lstm and --model gru: it must rebuild the sequence model
#      (Unflatten to 28 rows, the recurrent layer, its last step, Linear), load it and classify;
#   5. on a missing file: a one-line error naming the file, exit status 1.
# With TAPEGRAD_DOCS_BLESS=1, cases 1 and 3 write examples/use_trained_model.out and
# examples/use_trained_model_cnn.out instead of comparing.
# Usage: check.sh EXAMPLE TAPEGRAD_TRAIN SOURCE_DIR
set -euo pipefail
example=$1 train=$2 src=$3
here=$src/tests/trained_model expected=$src/examples/use_trained_model.out
work=$(mktemp -d)
trap "rm -rf $work" EXIT
cd "$work"
python3 "$here/make_data.py" data
cp "$here/checkpoint.safetensors" .
png_ok() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

"$example" checkpoint.safetensors data predictions.png > out.txt
if [ "${TAPEGRAD_DOCS_BLESS:-}" = 1 ]; then
  cp out.txt "$expected"
  echo "wrote $expected"
elif ! diff -u "$expected" out.txt; then
  echo "use_trained_model's output changed (if intended: TAPEGRAD_DOCS_BLESS=1 ctest -R example.use_trained_model," \
       "then python3 tools/docs/sync_snippets.py)"
  exit 1
fi
png_ok predictions.png || { echo "predictions.png is not a PNG"; exit 1; }

"$train" --data data --hidden 8,4 --epochs 1 --lr 0.5 --seed 2 --threads 1 --no-plot --out run > train.log 2>&1 ||
  { cat train.log; exit 1; }
"$example" run/checkpoint.safetensors data fresh.png > fresh.txt
for want in "model.4.weight  [4, 10]" "Linear(in=8, out=4, bias=true)" "test accuracy: " "wrote fresh.png (120x120)"; do
  grep -qF "$want" fresh.txt || { echo "on a fresh checkpoint, no '$want' in:"; cat fresh.txt; exit 1; }
done
png_ok fresh.png || { echo "fresh.png is not a PNG"; exit 1; }

python3 "$here/make_data.py" images 28
"$train" --data images --model cnn --epochs 1 --seed 3 --threads 1 --no-plot --out cnn > cnn.log 2>&1 ||
  { cat cnn.log; exit 1; }
"$example" cnn/checkpoint.safetensors images cnn.png > cnn.txt
sed '/^Total: /q' cnn.txt > cnn_network.txt
if [ "${TAPEGRAD_DOCS_BLESS:-}" = 1 ]; then
  cp cnn_network.txt "$src/examples/use_trained_model_cnn.out"
  echo "wrote $src/examples/use_trained_model_cnn.out"
elif ! diff -u "$src/examples/use_trained_model_cnn.out" cnn_network.txt; then
  echo "use_trained_model's printout of the cnn changed (if intended: TAPEGRAD_DOCS_BLESS=1 ctest -R" \
       "example.use_trained_model, then python3 tools/docs/sync_snippets.py)"
  exit 1
fi
for want in "model.1.weight  [32, 1, 3, 3]" "model.10.bias   [10]" "Unflatten(dim=1, sizes=[1, 28, 28])" "[N, 784] -> [N, 1, 28, 28]" \
            "[N, 3136] -> [N, 128]" "test accuracy: " "wrote cnn.png (360x360)"; do
  grep -qF "$want" cnn.txt || { echo "on a cnn checkpoint, no '$want' in:"; cat cnn.txt; exit 1; }
done
if grep -qE "error|\?" cnn.txt; then echo "the cnn's printout has an unknown shape or an error:"; cat cnn.txt; exit 1; fi
png_ok cnn.png || { echo "cnn.png is not a PNG"; exit 1; }

for model in lstm gru; do
  "$train" --data images --model $model --epochs 1 --seed 3 --threads 1 --no-plot --out $model > $model.log 2>&1 ||
    { cat $model.log; exit 1; }
  "$example" $model/checkpoint.safetensors images $model.png > $model.txt
  for want in "model.1.weight_hh_l0" "model.3.weight" "Select(dim=1, index=-1)" "test accuracy: " "wrote $model.png (360x360)"; do
    grep -qF "$want" $model.txt || { echo "on a $model checkpoint, no '$want' in:"; cat $model.txt; exit 1; }
  done
  if grep -qE "error|\?" $model.txt; then echo "the $model's printout has an unknown shape or an error:"; cat $model.txt; exit 1; fi
done

if "$example" missing.safetensors data > missing.txt 2> missing.err; then
  echo "a missing checkpoint did not fail"; exit 1
fi
grep -q "^use_trained_model: .*missing.safetensors" missing.err || { echo "unclear error:"; cat missing.err; exit 1; }
echo "use_trained_model: the committed checkpoint, a fresh mlp, cnn, lstm and gru, and a missing one all behave"
