"""``python -m dashboards``: regenerate the committed JSON (``make dashboards``)."""
from dashboards.generate import write

changed = write()
print(f"dashboards: {', '.join(changed) if changed else 'nothing'} regenerated")
