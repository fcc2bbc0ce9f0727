"""Plain-torch inference core: no Django import anywhere in this package.

Loading never reaches the network: the Hugging Face libraries are put in offline mode before
open_clip (which imports transformers) is first imported.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
