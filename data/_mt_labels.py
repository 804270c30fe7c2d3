"""MT's 14 face-parsing labels (BeautyGAN's makeup dataset), by id: one table for the `mt_makeup` builder and the
`synthetic_faces` renderer, whose parsing maps use the same ids so that the makeup families train on either."""

PARSING_LABELS = (
    "background",
    "face_skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "mouth_interior",
    "lower_lip",
    "hair",
    "left_ear",
    "right_ear",
    "neck",
)
