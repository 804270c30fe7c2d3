"""Model families. Each is a small object the shared trainer drives; it never owns a loop.

A family implements:
  name                          registry name, equal to config.family
  architecture_fields           config fields a checkpoint must agree on to be restored
  init(root_key_data)           -> TrainState (pure; jitted with out_shardings by the trainer)
  train_step(state, batch)      -> (state, metrics) (pure; jitted once with NamedSharding)
  train_dataset(local_batch, process_index, process_count, start_batch=0)
                                -> tf.data.Dataset of local batches from batch start_batch on, a
                                   pure function of the position (facejax/input/streams.py)
  sample_inputs(n)              -> a fixed numpy batch for the periodic sample grids
  sample_grids(state, inputs)   -> {name: uint8 grid}, pictures of the current EMA model
  param_counts()                -> {net name: number of parameters}
and optionally:
  load_pretrained(state)        -> state with frozen pretrained nets read from files (the trainer calls it
                                   once, outside jit, for a run that starts from scratch; StarGAN v2's FAN)
  torch_layout()                -> the original PyTorch layout (facejax export / import)
"""
