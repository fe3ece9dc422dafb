#!/usr/bin/env python3
"""The baseline of README.md: the test split's bits per character under a unigram model, the
character frequencies of the training split (add-one smoothed over the vocabulary). The files,
their order and the split are net.yaml's: every fortune file but the ASCII art, sorted by name,
the last 5% of the characters (Unicode code points, as TextData counts them) for TEST."""
import collections, math, os

FORTUNES = "/usr/share/games/fortunes/"
names = sorted(f for f in os.listdir(FORTUNES) if "." not in f and not f.endswith("art"))
text = "".join(open(FORTUNES + f, encoding="utf-8").read() for f in names)
test_count = int(len(text) * 0.05)
train, test = text[:-test_count], text[-test_count:]
vocabulary = sorted(set(text))
counts = collections.Counter(train)
p = {c: (counts[c] + 1) / (len(train) + len(vocabulary)) for c in vocabulary}
# TextData predicts every character of the split but the first.
print(f"characters {len(text)}, vocabulary {len(vocabulary)}, test split {test_count}")
print(f"unigram test bits/char {-sum(math.log2(p[c]) for c in test[1:]) / (test_count - 1):.3f}")
whole = collections.Counter(text)
print(f"entropy of the whole text's frequencies {-sum(n / len(text) * math.log2(n / len(text)) for n in whole.values()):.3f} bits/char")
