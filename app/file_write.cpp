// write_file_atomically: QSaveFile writes a temporary file and renames it on commit.
#include "app/file_write.h"

#include <QSaveFile>

namespace gb::app {

QString write_file_atomically(const QString& path, const QByteArray& bytes) {
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return QObject::tr("cannot write %1: %2").arg(path, f.errorString());
    if (f.write(bytes) != bytes.size() || !f.commit())
        return QObject::tr("cannot write %1: %2").arg(path, f.errorString());
    return {};
}

}  // namespace gb::app
