"""``python -m popheath.bench`` (``make bench``): runs :func:`popheath.bench.pipeline_timings.main`."""

import sys

from popheath.bench.pipeline_timings import main

sys.exit(main())
