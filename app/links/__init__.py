"""The one link: handles, routing, source detection, visits and their rollups."""
