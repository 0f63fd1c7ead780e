"""Risk models: estimators, honest temporal validation, training, scoring, promotion, explanations, registry, drift."""

import os

# LightGBM (and scikit-learn) run on OpenMP, whose default busy-waiting made a 2-thread fit about
# ten times slower (65 s against 5 s for 40k people) when other processes share the two cores.
# Passive waiting costs nothing on an idle machine. It only takes effect if set before the OpenMP
# runtime is loaded, so it is set on first import of this package; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
