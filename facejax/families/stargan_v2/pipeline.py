"""StarGAN v2's training input: the original's InputFetcher as an element function of the position
(facejax/input/streams.py), batched by `streams.batches(train_element(...), local_batch, start_batch)`."""

import numpy as np
import tensorflow as tf

from facejax.input import ops, sources, streams
from facejax.input.pipelines import position_fn


def train_element(
    source: sources.Source, *, num_domains: int, img_size: int, randcrop_prob: float, seeds, resize_method: str = "tf"
):
    """The original's training input (core/data_loader.py InputFetcher), one element per position:

    x_src, y_src   a class-balanced draw with replacement (ImageFolder + WeightedRandomSampler)
    x_ref, x_ref2, y_ref
                   an independent class-balanced draw of a reference pair (ReferenceDataset): x_ref2 is
                   x_ref's fixed partner, a random permutation of its domain made once from the seed
    Every image gets its own draw of the train transform (ops.train_augment, resized by `resize_method`:
    config.data.resize). `seeds`: 4 ints.
    """
    labels = source.labels
    what = f"the train data ({source.name})"
    src = streams.Balanced(labels, num_domains, seeds[0], what=what)
    ref = streams.Balanced(labels, num_domains, seeds[1], what=what)
    rng = np.random.default_rng(seeds[2])
    partner = np.concatenate([rng.permutation(n) for n in ref.domain_counts]).astype(np.int64)
    partner = tf.constant(partner)
    table, from_files, aug_seed = source.tensors(), source.from_files, seeds[3]

    @tf.function(autograph=False)  # traced once, called for the three images (a third of the tracing)
    def load(row, seed):
        img = ops.decode(tf.gather(table["image"], row), from_files)
        return ops.train_augment(img, seed, img_size, randcrop_prob, resize_method)

    @position_fn
    def element(position):
        d_src, j_src = src(position)
        d_ref, j_ref = ref(position)
        j_ref2 = partner[ref.offsets[d_ref] + j_ref]
        k = tf.random.experimental.stateless_split(streams.key(aug_seed, position), 3)
        return {
            "x_src": load(src.row(d_src, j_src), k[0]),
            "y_src": tf.cast(d_src, tf.int32),
            "x_ref": load(ref.row(d_ref, j_ref), k[1]),
            "x_ref2": load(ref.row(d_ref, j_ref2), k[2]),
            "y_ref": tf.cast(d_ref, tf.int32),
        }

    return element
