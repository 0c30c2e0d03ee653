//! Real pretrained models on burn (being written).
