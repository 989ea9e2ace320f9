// The Eon C++ SDK: one include for everything.
#pragma once

#include "eon/sdk/activity.h"
#include "eon/sdk/client.h"
#include "eon/sdk/failure.h"
#include "eon/sdk/options.h"
#include "eon/sdk/payload.h"
#include "eon/sdk/registry.h"
#include "eon/sdk/replayer.h"
#include "eon/sdk/result.h"
#include "eon/sdk/worker.h"
#include "eon/sdk/workflow.h"
