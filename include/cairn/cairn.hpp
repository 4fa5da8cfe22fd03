// Umbrella header: everything public in cairn.
#pragma once

#include "cairn/checkpoint_folder.hpp"
#include "cairn/checkpoint_info.hpp"
#include "cairn/checkpoint_state.hpp"
#include "cairn/checkpointer.hpp"
#include "cairn/clock.hpp"
#include "cairn/dtype.hpp"
#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "cairn/logger.hpp"
#include "cairn/retention.hpp"
#include "cairn/safetensors.hpp"
#include "cairn/state.hpp"
#include "cairn/storage.hpp"
#include "cairn/tensor.hpp"
#include "cairn/text.hpp"
#include "cairn/version.hpp"
