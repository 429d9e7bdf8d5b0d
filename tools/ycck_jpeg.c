/* Writes a YCCK JPEG (Adobe APP14 transform 2), which Pillow cannot write.
 *
 * Usage: ycck_jpeg WIDTH HEIGHT QUALITY < cmyk.raw > out.jpg
 * The input is 4 bytes per pixel in Adobe's inverted CMYK convention (what Pillow hands
 * libjpeg for a CMYK image: 255 - C, 255 - M, 255 - Y, 255 - K). libjpeg converts it to
 * YCCK (YCbCr of the inverted CMY, K as is) and writes the Adobe marker.
 * Build: cc -O2 -o ycck_jpeg tools/ycck_jpeg.c -ljpeg   (Debian: libjpeg62-turbo-dev)
 * Used by tools/make_preprocess_fixtures.py. */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT QUALITY < cmyk.raw > out.jpg\n", argv[0]);
        return 2;
    }
    int w = atoi(argv[1]), h = atoi(argv[2]), q = atoi(argv[3]);
    size_t row = (size_t)w * 4;
    unsigned char *px = malloc(row * h);
    if (!px || fread(px, 1, row * h, stdin) != row * h) {
        fprintf(stderr, "expected %zu bytes of CMYK on stdin\n", row * h);
        return 1;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, stdout);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK); /* also sets write_Adobe_marker and 2x2 Y/K sampling */
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = px + c.next_scanline * row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    return 0;
}
