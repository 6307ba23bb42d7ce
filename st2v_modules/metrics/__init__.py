"""Quality metrics of the paper (spec 5) and of our extend loop: MAWE, CLIP text alignment, per-chunk drift.

`measure_video` runs them all and returns a JSON-ready report; `python -m st2v_modules.metrics VIDEO` scores a file.
"""
from .mawe import OFFICIAL_COEFF, OFFICIAL_SIZE, MaweResult, mawe
from .optical_flow import RAFT_FILE, RAFT_URL, RaftFlow, check_flow_size, load_raft
from .report import check_video, drift_plot, measure_video, to_json

__all__ = ["OFFICIAL_COEFF", "OFFICIAL_SIZE", "MaweResult", "mawe", "RAFT_FILE", "RAFT_URL", "RaftFlow", "check_flow_size",
           "load_raft", "check_video", "drift_plot", "measure_video", "to_json"]
