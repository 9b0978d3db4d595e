import sys
from pathlib import Path

# the arena tests share a helper module that registers test-only games
sys.path.insert(0, str(Path(__file__).parent))
import helpers as tests_arena_helpers  # noqa: E402

sys.modules["tests_arena_helpers"] = tests_arena_helpers
