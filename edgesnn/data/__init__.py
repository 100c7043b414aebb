"""Input side: image and event readers, datasets, binning."""
