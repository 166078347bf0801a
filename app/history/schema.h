// The history database's schema and its forward migrations, versioned by PRAGMA user_version.
#pragma once

#include "app/history/sqlite.h"

namespace gb::app {

// PRAGMA application_id of a Glassbox history database ("GBHS"): tells our file from other
// SQLite files.
constexpr int32_t kHistoryApplicationId = 0x47424853;
constexpr int kHistorySchemaVersion = 5;

// Brings a database at version `from` (0 = empty) up to kHistorySchemaVersion, one step per
// version, all in one transaction (a failure leaves the old version untouched). Steps that add
// derived tables fill them from the data already there.
void migrate(sql::Db& db, int from);

}  // namespace gb::app
