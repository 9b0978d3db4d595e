import sys
from pathlib import Path

# the fault tests share one helper module, fault_helpers.py
sys.path.insert(0, str(Path(__file__).parent))
