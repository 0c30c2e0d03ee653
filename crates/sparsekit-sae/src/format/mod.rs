//! SAELens and EleutherAI sparsify directories (written by the formats helper).
