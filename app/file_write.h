// Writing a file the user chose, whole or not at all (QSaveFile: a temporary file renamed over
// the target on success).
#pragma once

#include <QByteArray>
#include <QString>

namespace gb::app {

// Empty on success, else what went wrong, naming the path.
QString write_file_atomically(const QString& path, const QByteArray& bytes);

}  // namespace gb::app
