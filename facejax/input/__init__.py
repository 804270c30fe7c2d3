"""Input pipelines: tf.data streams of local batches, global arrays on the devices, exact resume.

sources.py    where examples come from (a TFDS split or a <dir>/<domain>/<image> folder), this
              process's part of them as an in-memory table with random access
ops.py        decode, torchvision's RandomResizedCrop box, PIL-equivalent resizing, the joint train
              transform of an image and its label maps, the eval transform
streams.py    samplers (class-balanced, uniform, epochs) and batching: streams are pure functions of
              their position
pipelines.py  element functions several families share (position -> example; paired makeup sources)
prefetch.py   DeviceIterator: global sharded batches formed ahead of the step; its checkpointed state
              is the position of the next batch
"""
