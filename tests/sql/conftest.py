import sys
from pathlib import Path

# The known-answer tests share the tiny-ICS builder beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
