"""``python -m popheath.bench`` (``make bench``): pipeline timings, then the realism section, at the same sizes."""

import sys

from popheath.bench import pipeline_timings, realism

code = pipeline_timings.main(sys.argv[1:])
sys.exit(code or realism.main(sys.argv[1:]))
