"""Writes: plain, typed, keyword-only functions named <entity>_<action>, each atomic and audited."""
