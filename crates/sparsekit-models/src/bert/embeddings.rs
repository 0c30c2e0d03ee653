//! Word + position + token-type embeddings, then LayerNorm.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor};

use super::BertConfig;

/// BERT's embedding block. Every text is one segment (token type 0), as in sentence
/// embedding; positions count from 0.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// `embeddings.word_embeddings` (`vocab_size × d`).
    pub word: Embedding,
    /// `embeddings.position_embeddings` (`max_position_embeddings × d`).
    pub position: Embedding,
    /// `embeddings.token_type_embeddings` (`type_vocab_size × d`).
    pub token_type: Embedding,
    /// `embeddings.LayerNorm`.
    pub norm: LayerNorm,
}

impl BertEmbeddings {
    /// Random weights for `config`.
    pub fn init(config: &BertConfig, device: &Device) -> Self {
        let d = config.hidden_size;
        BertEmbeddings {
            word: EmbeddingConfig::new(config.vocab_size, d).init(device),
            position: EmbeddingConfig::new(config.max_position_embeddings, d).init(device),
            token_type: EmbeddingConfig::new(config.type_vocab_size, d).init(device),
            norm: LayerNormConfig::new(d)
                .with_epsilon(config.layer_norm_eps)
                .init(device),
        }
    }

    /// `[batch, seq]` token ids → `[batch, seq, d]`. `seq` must not exceed the position table.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, s] = ids.dims();
        let [_, d] = self.position.weight.val().dims();
        // Positions 0..s and token type 0 are the same rows for every text: slices broadcast
        // over the batch instead of gathering per token.
        let pos = self.position.weight.val().slice(0..s).reshape([1, s, d]);
        let typ = self.token_type.weight.val().slice(0..1).reshape([1, 1, d]);
        self.norm.forward(self.word.forward(ids) + pos + typ)
    }
}
