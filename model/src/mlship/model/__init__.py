"""mlship.model: data, training, the validation gate and the registry lifecycle."""
